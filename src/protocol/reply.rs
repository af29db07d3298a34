//! Typed replies and the one encoder that writes them for a connection's protocol version.
//!
//! Handlers build a [`Reply`]; they never write bytes. RESP3-only kinds degrade the way Redis
//! 7.0 degrades them under RESP2 (a map becomes a flat array, a double a bulk string, a
//! boolean an integer), so `HELLO 3` needs no change to any handler.

use std::borrow::Cow;

#[derive(Debug, PartialEq)]
pub enum Reply {
    /// `+OK`
    Simple(Cow<'static, str>),
    /// `-ERR ...`: the text without the leading `-`.
    Error(Cow<'static, [u8]>),
    Int(i64),
    Bulk(Vec<u8>),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(f64),
    Bool(bool),
    Push(Vec<Reply>),
    /// A verbatim string (`=len\r\ntxt:...` in RESP3, a bulk string in RESP2).
    Verbatim(&'static str, Vec<u8>),
    /// Already-encoded bytes that do not depend on the protocol version.
    Raw(Cow<'static, [u8]>),
    /// An array of pairs (HRANDFIELD ... WITHVALUES): nested two-element arrays in RESP3,
    /// one flat array in RESP2.
    Pairs(Vec<(Reply, Reply)>),
    /// An array made as it is written (HRANDFIELD with a large negative count): the
    /// connection pulls the items while it sends them, so the reply is never whole in memory.
    Stream(ReplyStream),
    /// An array (or RESP3 set) of bulk strings, encoded as they were gathered.
    Bulks(Bulks),
}

/// The elements of a long read's reply (`KEYS`, `SMEMBERS`, `LRANGE`, ...), encoded as they
/// are gathered: the bytes of a bulk string are the same in RESP2 and RESP3, so one buffer
/// serves both. A `KEYS *` of 1,000,000 keys otherwise made a million small blocks and a
/// 48 MB vector of replies beside its 25 MB of output; every call then faulted in, and gave
/// back, three times the memory, kernel time the other clients' threads waited behind.
#[derive(Debug, Default, PartialEq)]
pub struct Bulks {
    shape: Shape,
    count: usize,
    body: Vec<u8>,
    /// Where the body ended when room was last made, and the most one chunk has added.
    mark: usize,
    most: usize,
}

/// What a [`Bulks`] is in RESP3 (in RESP2, all three are a flat array).
#[derive(Debug, Default, PartialEq, Clone, Copy)]
pub enum Shape {
    #[default]
    Array,
    Set,
    /// Fields and values, pushed in turn.
    Map,
}

impl Bulks {
    pub fn new(shape: Shape) -> Self {
        Bulks {
            shape,
            ..Bulks::default()
        }
    }

    /// Appends one element. Room grows by doubling, never to measure as [`bulk`] makes it
    /// for a single big value: made to measure for each of many big elements, the buffer
    /// would be copied whole for every one of them.
    pub fn push(&mut self, item: &[u8]) {
        header(&mut self.body, b'$', item.len() as i64);
        self.body.extend_from_slice(item);
        self.body.extend_from_slice(b"\r\n");
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Room for the next chunk, made with no lock held: twice the most a chunk has needed
    /// (at least 16 KB), so the buffer is not grown under the lock. Grown there, a
    /// million-element reply's last doubling copied 16 MB and faulted in 32 MB of fresh pages
    /// inside one hold (15 ms, measured, for SMEMBERS of 1,000,000).
    pub fn make_room(&mut self) {
        self.most = self.most.max(self.body.len() - self.mark);
        self.body.reserve((2 * self.most).max(16 << 10));
        self.mark = self.body.len();
    }

    /// The aggregate's header.
    fn header(&self, proto: u8, out: &mut Vec<u8>) {
        match self.shape {
            Shape::Set if proto >= 3 => header(out, b'~', self.count as i64),
            Shape::Map if proto >= 3 => header(out, b'%', (self.count / 2) as i64),
            _ => header(out, b'*', self.count as i64),
        }
    }
}

/// The items of a [`Reply::Stream`]: exactly `len` of them (each a [`Reply::Pairs`] entry of
/// one pair when `pairs`).
pub struct ReplyStream {
    pub len: usize,
    pub pairs: bool,
    items: parking_lot::Mutex<Box<dyn Iterator<Item = Reply> + Send>>,
}

impl ReplyStream {
    pub fn new(
        len: usize,
        pairs: bool,
        items: impl Iterator<Item = Reply> + Send + 'static,
    ) -> Self {
        ReplyStream {
            len,
            pairs,
            items: parking_lot::Mutex::new(Box::new(items)),
        }
    }

    /// The array header, then the items, calling `drain` whenever `out` holds `chunk` bytes.
    fn write<E>(
        &self,
        proto: u8,
        out: &mut Vec<u8>,
        chunk: usize,
        mut drain: impl FnMut(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let flat_pairs = self.pairs && proto < 3;
        let count = if flat_pairs { 2 * self.len } else { self.len };
        header(out, b'*', count as i64);
        let mut items = self.items.lock();
        for item in items.by_ref().take(self.len) {
            match item {
                Reply::Pairs(pairs) if flat_pairs => {
                    for (a, b) in &pairs {
                        encode(a, proto, out);
                        encode(b, proto, out);
                    }
                }
                Reply::Pairs(pairs) => {
                    for (a, b) in &pairs {
                        header(out, b'*', 2);
                        encode(a, proto, out);
                        encode(b, proto, out);
                    }
                }
                other => encode(&other, proto, out),
            }
            if out.len() >= chunk {
                drain(out)?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for ReplyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReplyStream({} items)", self.len)
    }
}

impl PartialEq for ReplyStream {
    /// Streams are consumed by being written; two are never the same reply.
    fn eq(&self, _: &Self) -> bool {
        false
    }
}

impl Reply {
    pub const fn ok() -> Reply {
        Reply::Simple(Cow::Borrowed("OK"))
    }

    pub const fn simple(s: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(s))
    }

    /// No reply at all: the connection closes without one (SHUTDOWN), or the handler has
    /// already written its reply (`ReadInto`).
    pub const fn none() -> Reply {
        Reply::Raw(Cow::Borrowed(b""))
    }

    pub fn bulk(b: impl Into<Vec<u8>>) -> Reply {
        Reply::Bulk(b.into())
    }

    pub fn error(text: impl Into<Vec<u8>>) -> Reply {
        Reply::Error(Cow::Owned(text.into()))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// An array of bulk strings.
    pub fn bulks<I, B>(items: I) -> Reply
    where
        I: IntoIterator<Item = B>,
        B: Into<Vec<u8>>,
    {
        Reply::Array(items.into_iter().map(|b| Reply::Bulk(b.into())).collect())
    }
}

/// Appends `reply` to `out`, in RESP2 (`proto` 2) or RESP3 (`proto` 3).
pub fn encode(reply: &Reply, proto: u8, out: &mut Vec<u8>) {
    let resp3 = proto >= 3;
    match reply {
        Reply::Simple(s) => {
            out.push(b'+');
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Reply::Error(e) => {
            out.push(b'-');
            // An error must stay on one line, as Redis's addReplyError ensures.
            out.extend(
                e.iter()
                    .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
            );
            out.extend_from_slice(b"\r\n");
        }
        Reply::Int(n) => header(out, b':', *n),
        Reply::Bulk(b) => bulk(out, b),
        Reply::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Reply::Array(items) => aggregate(out, b'*', items, proto),
        Reply::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, proto),
        Reply::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, proto),
        Reply::Map(pairs) => {
            if resp3 {
                header(out, b'%', pairs.len() as i64);
            } else {
                header(out, b'*', 2 * pairs.len() as i64);
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Double(d) => {
            let text = format_double(*d);
            if resp3 {
                out.push(b',');
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b"\r\n");
            } else {
                bulk(out, text.as_bytes());
            }
        }
        Reply::Bool(b) if resp3 => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Bool(b) => header(out, b':', i64::from(*b)),
        Reply::Verbatim(fmt, text) => {
            if resp3 {
                header(out, b'=', (text.len() + 4) as i64);
                out.extend_from_slice(fmt.as_bytes());
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            } else {
                bulk(out, text);
            }
        }
        Reply::Raw(bytes) => out.extend_from_slice(bytes),
        Reply::Pairs(pairs) if resp3 => {
            header(out, b'*', pairs.len() as i64);
            for (a, b) in pairs {
                header(out, b'*', 2);
                encode(a, proto, out);
                encode(b, proto, out);
            }
        }
        Reply::Pairs(pairs) => {
            header(out, b'*', 2 * pairs.len() as i64);
            for (a, b) in pairs {
                encode(a, proto, out);
                encode(b, proto, out);
            }
        }
        Reply::Bulks(b) => {
            b.header(proto, out);
            out.extend_from_slice(&b.body);
        }
        // A stream inside another reply (a transaction's) is written whole.
        Reply::Stream(s) => {
            let _ = s.write(proto, out, usize::MAX, |_| Ok::<(), ()>(()));
        }
    }
}

/// Writes a reply whose top level may be a [`Reply::Stream`], calling `drain` whenever `out`
/// holds `chunk` bytes or more (the connection writes them out); stops early if `drain` fails.
pub fn encode_streaming<E>(
    reply: Reply,
    proto: u8,
    out: &mut Vec<u8>,
    chunk: usize,
    mut drain: impl FnMut(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    match reply {
        Reply::Stream(stream) => stream.write(proto, out, chunk, &mut drain),
        // A big bulk (a large GET) goes through `out` a chunk at a time, so the buffer never
        // holds a second copy of it whole.
        Reply::Bulk(b) if b.len() > chunk => {
            header(out, b'$', b.len() as i64);
            for piece in b.chunks(chunk) {
                out.extend_from_slice(piece);
                if out.len() >= chunk {
                    drain(out)?;
                }
            }
            out.extend_from_slice(b"\r\n");
            Ok(())
        }
        // So does a long read's: `out` never holds a second copy of it whole.
        Reply::Bulks(b) if b.body.len() > chunk => {
            b.header(proto, out);
            for piece in b.body.chunks(chunk) {
                out.extend_from_slice(piece);
                if out.len() >= chunk {
                    drain(out)?;
                }
            }
            Ok(())
        }
        other => {
            encode(&other, proto, out);
            Ok(())
        }
    }
}

fn aggregate(out: &mut Vec<u8>, kind: u8, items: &[Reply], proto: u8) {
    header(out, kind, items.len() as i64);
    for item in items {
        encode(item, proto, out);
    }
}

/// Writes `$len\r\nbytes\r\n`. Room for a big one is made to measure when it dwarfs what
/// the buffer holds: doubling a buffer to hold a 100 MB value left it 128 MB, beside the
/// 64 MB it had outgrown. Behind other big elements (MGET of many) the buffer doubles, or
/// each one would copy everything before it.
pub fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    const TO_MEASURE: usize = 1 << 20;
    if b.len() >= TO_MEASURE && out.len() < b.len() {
        out.reserve_exact(b.len() + 32);
    }
    header(out, b'$', b.len() as i64);
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Writes a type byte, a decimal number and CRLF without allocating: built on the stack
/// and appended in one copy (every reply has at least one such header).
pub fn header(out: &mut Vec<u8>, kind: u8, n: i64) {
    let mut buf = [0u8; 24];
    buf[22..].copy_from_slice(b"\r\n");
    let mut i = digits(&mut buf, 22, n.unsigned_abs());
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    i -= 1;
    buf[i] = kind;
    out.extend_from_slice(&buf[i..]);
}

/// Writes a bulk string of the two numbers joined by `sep` (a stream ID, `ms-seq`) without
/// allocating.
pub fn bulk_pair(out: &mut Vec<u8>, a: u64, sep: u8, b: u64) {
    let (mut da, mut db) = ([0u8; 24], [0u8; 24]);
    let ia = digits(&mut da, 24, a);
    let ib = digits(&mut db, 24, b);
    header(out, b'$', (24 - ia + 1 + 24 - ib) as i64);
    out.extend_from_slice(&da[ia..]);
    out.push(sep);
    out.extend_from_slice(&db[ib..]);
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal form of `n`.
pub fn push_i64(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 24];
    let mut i = digits(&mut buf, 24, n.unsigned_abs());
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    out.extend_from_slice(&buf[i..]);
}

/// "00" to "99": two digits per division.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the digits of `v` so that they end just before `buf[end]`; returns where they
/// start. `end` leaves room for 20 digits and a sign before them.
fn digits(buf: &mut [u8; 24], end: usize, mut v: u64) -> usize {
    let mut i = end;
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    i
}

/// Formats a double the way Redis does for replies: C's `%.17g`, with `inf`/`-inf`.
pub fn format_double(d: f64) -> String {
    format_g(d, 17)
}

/// C's `printf("%.{precision}g", d)` (glibc spelling of infinities and NaN).
pub fn format_g(d: f64, precision: usize) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, d);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut s = String::with_capacity(p + 8);
    if neg {
        s.push('-');
    }
    if exp < -4 || exp >= p as i32 {
        s.push_str(&digits[..1]);
        let frac = digits[1..].trim_end_matches('0');
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        s.push_str(&digits[..int_len]);
        let frac = digits[int_len..].trim_end_matches('0');
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
    } else {
        s.push_str("0.");
        for _ in 0..(-exp - 1) {
            s.push('0');
        }
        s.push_str(digits.trim_end_matches('0'));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, proto: u8) -> String {
        let mut out = Vec::new();
        encode(r, proto, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn integers_format_as_decimal_text() {
        let mut n: i64 = 1;
        let mut cases = vec![0, i64::MIN, i64::MAX, i64::MIN + 1];
        for _ in 0..19 {
            cases.extend([n - 1, n, n + 1, -n, 1 - n]);
            n = n.saturating_mul(10);
        }
        for v in cases {
            let mut out = Vec::new();
            push_i64(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
            out.clear();
            header(&mut out, b':', v);
            assert_eq!(out, format!(":{v}\r\n").into_bytes());
        }
    }

    #[test]
    fn resp2_kinds() {
        assert_eq!(enc(&Reply::ok(), 2), "+OK\r\n");
        assert_eq!(enc(&Reply::error("ERR x\r\ny"), 2), "-ERR x  y\r\n");
        assert_eq!(enc(&Reply::Int(-42), 2), ":-42\r\n");
        assert_eq!(enc(&Reply::Int(i64::MIN), 2), ":-9223372036854775808\r\n");
        assert_eq!(enc(&Reply::bulk("hello"), 2), "$5\r\nhello\r\n");
        assert_eq!(enc(&Reply::bulk(""), 2), "$0\r\n\r\n");
        assert_eq!(enc(&Reply::Nil, 2), "$-1\r\n");
        assert_eq!(enc(&Reply::NilArray, 2), "*-1\r\n");
        assert_eq!(enc(&Reply::Array(vec![]), 2), "*0\r\n");
        let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]);
        assert_eq!(enc(&map, 2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(
            enc(&Reply::Set(vec![Reply::bulk("x")]), 2),
            "*1\r\n$1\r\nx\r\n"
        );
        assert_eq!(enc(&Reply::Double(1.5), 2), "$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Double(f64::INFINITY), 2), "$3\r\ninf\r\n");
        assert_eq!(enc(&Reply::Bool(true), 2), ":1\r\n");
        assert_eq!(enc(&Reply::Push(vec![Reply::Int(1)]), 2), "*1\r\n:1\r\n");
        assert_eq!(
            enc(&Reply::Verbatim("txt", b"hi".to_vec()), 2),
            "$2\r\nhi\r\n"
        );
    }

    #[test]
    fn a_big_bulk_streams_through_the_buffer_a_chunk_at_a_time() {
        let body: Vec<u8> = (0..100_003u32).map(|i| i as u8).collect();
        let mut want = Vec::new();
        encode(&Reply::Bulk(body.clone()), 2, &mut want);
        let (mut out, mut sent, mut most) = (Vec::new(), Vec::new(), 0);
        encode_streaming(Reply::Bulk(body), 2, &mut out, 4096, |out| {
            most = most.max(out.len());
            sent.append(out);
            Ok::<(), ()>(())
        })
        .unwrap();
        sent.append(&mut out);
        assert_eq!(sent, want);
        assert!(most < 2 * 4096, "{most} bytes buffered at once");
    }

    #[test]
    fn resp3_kinds() {
        assert_eq!(enc(&Reply::Nil, 3), "_\r\n");
        assert_eq!(enc(&Reply::NilArray, 3), "_\r\n");
        let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]);
        assert_eq!(enc(&map, 3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(
            enc(&Reply::Set(vec![Reply::bulk("x")]), 3),
            "~1\r\n$1\r\nx\r\n"
        );
        assert_eq!(enc(&Reply::Double(1.5), 3), ",1.5\r\n");
        assert_eq!(enc(&Reply::Double(f64::NEG_INFINITY), 3), ",-inf\r\n");
        assert_eq!(enc(&Reply::Bool(false), 3), "#f\r\n");
        assert_eq!(enc(&Reply::Push(vec![Reply::Int(1)]), 3), ">1\r\n:1\r\n");
        assert_eq!(
            enc(&Reply::Verbatim("txt", b"hi".to_vec()), 3),
            "=6\r\ntxt:hi\r\n"
        );
    }

    #[test]
    fn percent_17g() {
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-2.25), "-2.25");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(1.2345e16), "12345000000000000");
        assert_eq!(format_double(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(123.456), "123.456");
        assert_eq!(format_double(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(format_g(0.1, 6), "0.1");
        assert_eq!(format_g(1234567.0, 6), "1.23457e+06");
    }

    /// One big value gets a buffer to measure; many in a row (MGET) get a doubling one, so the
    /// buffer is moved a few times, not once per value.
    #[test]
    fn big_bulks_grow_the_buffer_to_measure_then_by_doubling() {
        let value = vec![b'v'; 1 << 20];
        let mut out = Vec::new();
        bulk(&mut out, &value);
        assert!(out.capacity() < value.len() + 64, "{}", out.capacity());
        let mut moves = 0;
        for _ in 0..63 {
            let cap = out.capacity();
            bulk(&mut out, &value);
            moves += usize::from(out.capacity() != cap);
        }
        assert_eq!(out.len(), 64 * (value.len() + b"$1048576\r\n\r\n".len()));
        assert!(moves <= 8, "the buffer moved {moves} times for 64 values");
    }

    /// A long read's reply encodes exactly as the same elements given one by one, in both
    /// protocols, whole or streamed through a small buffer, however room was made.
    #[test]
    fn bulks_encode_as_the_elements_one_by_one() {
        let mut items: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("item:{i}").repeat(i % 7).into_bytes())
            .collect();
        // Elements of a megabyte and more among them (grown by doubling, not to measure).
        items[10] = vec![b'x'; 3 << 19];
        items[11] = vec![b'y'; 1 << 20];
        for shape in [Shape::Array, Shape::Set, Shape::Map] {
            let mut b = Bulks::new(shape);
            for (n, item) in items.iter().enumerate() {
                if n % 50 == 0 {
                    b.make_room();
                }
                b.push(item);
            }
            assert_eq!(b.len(), items.len());
            let one_by_one: Vec<Reply> = items.iter().map(|i| Reply::Bulk(i.clone())).collect();
            let plain = match shape {
                Shape::Array => Reply::Array(one_by_one),
                Shape::Set => Reply::Set(one_by_one),
                Shape::Map => {
                    let mut it = one_by_one.into_iter();
                    let mut pairs = Vec::new();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Reply::Map(pairs)
                }
            };
            let b = Reply::Bulks(b);
            for proto in [2, 3] {
                assert_eq!(enc(&b, proto), enc(&plain, proto), "{shape:?} RESP{proto}");
            }
            // Streamed, a few bytes at a time.
            let mut sent = Vec::new();
            let mut out = Vec::new();
            encode_streaming(b, 3, &mut out, 64, |o: &mut Vec<u8>| {
                assert!(o.len() < 64 + 64 * 2);
                sent.append(o);
                Ok::<(), ()>(())
            })
            .unwrap();
            sent.append(&mut out);
            assert_eq!(String::from_utf8(sent).unwrap(), enc(&plain, 3));
        }
        assert_eq!(enc(&Reply::Bulks(Bulks::new(Shape::Set)), 3), "~0\r\n");
        assert_eq!(enc(&Reply::Bulks(Bulks::new(Shape::Map)), 2), "*0\r\n");
    }
}
