//! `cjson`: JSON for scripts, behaving as the lua-cjson 2.1.0 that Redis 7.0 bundles (same
//! bytes out, same errors, same configuration functions and defaults).
//!
//! Encoding walks tables with `lua_next` (so keys come out in Lua's own order), treats a
//! table as an array when every key is a positive integer and it is not too sparse, writes
//! numbers with `%.14g` and refuses nesting deeper than `encode_max_depth`. Decoding is a
//! recursive descent over the NUL-terminated Lua string (a NUL ends the text, as in C),
//! numbers through the C library's `strtod` (hex, `inf` and `nan` included, as Redis's build
//! accepts them), `null` as a NULL light userdata (`cjson.null`).

use std::ffi::{c_int, CStr};
use std::ptr;

use mlua::ffi;

use super::clib::{self, lua_fn, State};

/// The settings of one `cjson` table (lua-cjson's `json_config_t`), with reusable buffers.
struct Config {
    sparse_convert: i32,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 refuse, 1 write `inf`/`nan`, 2 write `null`.
    encode_invalid_numbers: i32,
    decode_invalid_numbers: i32,
    keep_buffer: i32,
    precision: i32,
    /// The encoder's output.
    out: Vec<u8>,
    /// The decoder's scratch for strings with escapes.
    tmp: Vec<u8>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: 1,
            keep_buffer: 1,
            precision: 14,
            out: Vec::new(),
            tmp: Vec::new(),
        }
    }
}

lua_fn!(pub open => new);

/// Pushes a new `cjson` table with its own configuration (`cjson.new`).
unsafe fn new(l: State) -> c_int {
    ffi::lua_createtable(l, 0, 0);
    clib::new_state(l, Config::default());
    clib::set_funcs(
        l,
        &[
            (c"encode", encode_fn),
            (c"decode", decode_fn),
            (c"encode_sparse_array", encode_sparse_array_fn),
            (c"encode_max_depth", encode_max_depth_fn),
            (c"decode_max_depth", decode_max_depth_fn),
            (c"encode_number_precision", encode_number_precision_fn),
            (c"encode_keep_buffer", encode_keep_buffer_fn),
            (c"encode_invalid_numbers", encode_invalid_numbers_fn),
            (c"decode_invalid_numbers", decode_invalid_numbers_fn),
            (c"new", open),
        ],
        1,
    );
    ffi::lua_pushlightuserdata(l, ptr::null_mut());
    ffi::lua_setfield(l, -2, c"null".as_ptr());
    clib::set_string(l, c"_NAME", c"cjson");
    clib::set_string(l, c"_VERSION", c"2.1.0");
    1
}

// ===== Configuration =====

lua_fn!(encode_sparse_array_fn => encode_sparse_array);
lua_fn!(encode_max_depth_fn => encode_max_depth);
lua_fn!(decode_max_depth_fn => decode_max_depth);
lua_fn!(encode_number_precision_fn => encode_number_precision);
lua_fn!(encode_keep_buffer_fn => encode_keep_buffer);
lua_fn!(encode_invalid_numbers_fn => encode_invalid_numbers);
lua_fn!(decode_invalid_numbers_fn => decode_invalid_numbers);

/// Refuses more than `n` arguments and pads with nils to `n`, so that argument `i` is always
/// there to look at.
unsafe fn config_args<'a>(l: State, n: c_int) -> &'a mut Config {
    if ffi::lua_gettop(l) > n {
        clib::arg_error(l, n + 1, c"found too many arguments");
    }
    while ffi::lua_gettop(l) < n {
        ffi::lua_pushnil(l);
    }
    clib::upvalue_state::<Config>(l)
}

/// Sets `setting` from argument `idx` unless it is nil (within `min..=max`, else an error
/// that always names argument #1, as lua-cjson's does); pushes the current value.
unsafe fn integer_option(l: State, idx: c_int, setting: &mut i32, min: i32, max: i32) {
    if ffi::lua_isnil(l, idx) == 0 {
        // lua-cjson keeps the C int of the Lua integer.
        let value = ffi::luaL_checkinteger(l, idx) as i32;
        if !(min <= value && value <= max) {
            let msg = ffi::lua_pushfstring(
                l,
                c"expected integer between %d and %d".as_ptr(),
                min as c_int,
                max as c_int,
            );
            ffi::luaL_argerror(l, 1, msg);
        }
        *setting = value;
    }
    ffi::lua_pushinteger(l, *setting as ffi::lua_Integer);
}

/// Sets `setting` from argument `idx` unless it is nil: a boolean, or one of `options` by
/// name (its index). Pushes the current value: a boolean for 0 and 1, else the option's name.
unsafe fn enum_option(l: State, idx: c_int, setting: &mut i32, options: &[&CStr]) {
    if ffi::lua_isnil(l, idx) == 0 {
        if ffi::lua_isboolean(l, idx) != 0 {
            *setting = ffi::lua_toboolean(l, idx);
        } else {
            let mut list = [ptr::null(); 4];
            for (slot, o) in list.iter_mut().zip(options) {
                *slot = o.as_ptr();
            }
            *setting = ffi::luaL_checkoption(l, idx, ptr::null(), list.as_ptr());
        }
    }
    match *setting {
        0 | 1 => ffi::lua_pushboolean(l, *setting),
        n => {
            let name = options.get(n as usize).copied().unwrap_or(c"");
            ffi::lua_pushstring_(l, name.as_ptr());
        }
    }
}

const ON_OFF: &[&CStr] = &[c"off", c"on"];

/// cjson.encode_sparse_array([convert[, ratio[, safe]]]): extremely sparse arrays (the
/// highest index above `ratio` times the number of items, and above `safe`) are refused, or
/// written as objects when `convert`.
unsafe fn encode_sparse_array(l: State) -> c_int {
    let cfg = config_args(l, 3);
    enum_option(l, 1, &mut cfg.sparse_convert, ON_OFF);
    integer_option(l, 2, &mut cfg.sparse_ratio, 0, i32::MAX);
    integer_option(l, 3, &mut cfg.sparse_safe, 0, i32::MAX);
    3
}

/// cjson.encode_max_depth([depth])
unsafe fn encode_max_depth(l: State) -> c_int {
    let cfg = config_args(l, 1);
    integer_option(l, 1, &mut cfg.encode_max_depth, 1, i32::MAX);
    1
}

/// cjson.decode_max_depth([depth])
unsafe fn decode_max_depth(l: State) -> c_int {
    let cfg = config_args(l, 1);
    integer_option(l, 1, &mut cfg.decode_max_depth, 1, i32::MAX);
    1
}

/// cjson.encode_number_precision([1..14])
unsafe fn encode_number_precision(l: State) -> c_int {
    let cfg = config_args(l, 1);
    integer_option(l, 1, &mut cfg.precision, 1, 14);
    1
}

/// cjson.encode_keep_buffer([on]): keep the output buffer between calls.
unsafe fn encode_keep_buffer(l: State) -> c_int {
    let cfg = config_args(l, 1);
    enum_option(l, 1, &mut cfg.keep_buffer, ON_OFF);
    if cfg.keep_buffer == 0 {
        cfg.out = Vec::new();
    }
    1
}

/// cjson.encode_invalid_numbers([on|off|"null"]): how NaN and infinities are written.
unsafe fn encode_invalid_numbers(l: State) -> c_int {
    let cfg = config_args(l, 1);
    enum_option(
        l,
        1,
        &mut cfg.encode_invalid_numbers,
        &[c"off", c"on", c"null"],
    );
    1
}

/// cjson.decode_invalid_numbers([on]): accept `+1`, hex, leading zeros, `inf` and `nan`.
unsafe fn decode_invalid_numbers(l: State) -> c_int {
    let cfg = config_args(l, 1);
    enum_option(l, 1, &mut cfg.decode_invalid_numbers, ON_OFF);
    1
}

// ===== Encoding =====

lua_fn!(encode_fn => encode);

/// cjson.encode(value)
unsafe fn encode(l: State) -> c_int {
    let cfg = clib::upvalue_state::<Config>(l);
    if ffi::lua_gettop(l) != 1 {
        clib::arg_error(l, 1, c"expected 1 argument");
    }
    cfg.out.clear();
    append_value(l, cfg, 0);
    clib::push_bytes(l, &cfg.out);
    if cfg.keep_buffer == 0 {
        cfg.out = Vec::new();
    }
    1
}

/// "Cannot serialise <type of the value at idx>: reason".
unsafe fn refuse(l: State, idx: c_int, reason: &CStr) -> ! {
    let tname = ffi::lua_typename(l, ffi::lua_type(l, idx));
    ffi::luaL_error(
        l,
        c"Cannot serialise %s: %s".as_ptr(),
        tname,
        reason.as_ptr(),
    );
    unreachable!("luaL_error returned")
}

/// Appends the value at the top of the stack.
unsafe fn append_value(l: State, cfg: &mut Config, depth: i32) {
    match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => append_string(&mut cfg.out, clib::to_bytes(l, -1).unwrap_or(b"")),
        ffi::LUA_TNUMBER => append_number(l, cfg, -1),
        ffi::LUA_TBOOLEAN => {
            if ffi::lua_toboolean(l, -1) != 0 {
                cfg.out.extend_from_slice(b"true");
            } else {
                cfg.out.extend_from_slice(b"false");
            }
        }
        ffi::LUA_TTABLE => {
            let depth = depth + 1;
            // Room to walk the table (key, value) and for an error message.
            if depth > cfg.encode_max_depth || ffi::lua_checkstack(l, 3) == 0 {
                ffi::luaL_error(
                    l,
                    c"Cannot serialise, excessive nesting (%d)".as_ptr(),
                    depth as c_int,
                );
            }
            let len = array_length(l, cfg);
            if len > 0 {
                append_array(l, cfg, depth, len);
            } else {
                append_object(l, cfg, depth);
            }
        }
        ffi::LUA_TNIL => cfg.out.extend_from_slice(b"null"),
        ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, -1).is_null() => {
            cfg.out.extend_from_slice(b"null")
        }
        _ => refuse(l, -1, c"type not supported"),
    }
}

/// The length of the table at the top of the stack if it is to be written as an array (its
/// keys all positive integers, not excessively sparse), else -1 (or 0 when empty).
unsafe fn array_length(l: State, cfg: &Config) -> i32 {
    let mut max: i32 = 0;
    let mut items: i32 = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        if ffi::lua_type(l, -2) == ffi::LUA_TNUMBER {
            let k = ffi::lua_tonumber(l, -2);
            if k != 0.0 && k.floor() == k && k >= 1.0 {
                if k > max as f64 {
                    // The C code keeps the highest index in an int.
                    max = clib::c_i32(k);
                }
                items = items.wrapping_add(1);
                ffi::lua_settop(l, -2);
                continue;
            }
        }
        ffi::lua_settop(l, -3);
        return -1;
    }
    if cfg.sparse_ratio > 0 && max > items.wrapping_mul(cfg.sparse_ratio) && max > cfg.sparse_safe {
        if cfg.sparse_convert == 0 {
            refuse(l, -1, c"excessively sparse array");
        }
        return -1;
    }
    max
}

unsafe fn append_array(l: State, cfg: &mut Config, depth: i32, len: i32) {
    cfg.out.push(b'[');
    for i in 1..=len {
        if i > 1 {
            cfg.out.push(b',');
        }
        ffi::lua_rawgeti_(l, -1, i);
        append_value(l, cfg, depth);
        ffi::lua_settop(l, -2);
    }
    cfg.out.push(b']');
}

unsafe fn append_object(l: State, cfg: &mut Config, depth: i32) {
    cfg.out.push(b'{');
    let mut first = true;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        if !first {
            cfg.out.push(b',');
        }
        first = false;
        match ffi::lua_type(l, -2) {
            ffi::LUA_TNUMBER => {
                cfg.out.push(b'"');
                append_number(l, cfg, -2);
                cfg.out.extend_from_slice(b"\":");
            }
            ffi::LUA_TSTRING => {
                append_string(&mut cfg.out, clib::to_bytes(l, -2).unwrap_or(b""));
                cfg.out.push(b':');
            }
            _ => refuse(l, -2, c"table key must be a number or string"),
        }
        append_value(l, cfg, depth);
        ffi::lua_settop(l, -2);
    }
    cfg.out.push(b'}');
}

unsafe fn append_number(l: State, cfg: &mut Config, idx: c_int) {
    let n = ffi::lua_tonumber(l, idx);
    let invalid = !n.is_finite();
    match cfg.encode_invalid_numbers {
        0 if invalid => refuse(l, idx, c"must not be NaN or Inf"),
        1 if n.is_nan() => {
            cfg.out.extend_from_slice(b"nan");
            return;
        }
        2 if invalid => {
            cfg.out.extend_from_slice(b"null");
            return;
        }
        _ => {}
    }
    format_number(&mut cfg.out, n, cfg.precision);
}

/// `%.<precision>g`, with a shortcut for integers that `%g` writes as plain digits.
fn format_number(out: &mut Vec<u8>, n: f64, precision: i32) {
    const POW10: [f64; 15] = [
        1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
    ];
    let p = precision.clamp(1, 14) as usize;
    if n.trunc() == n && n.abs() < POW10[p] && !(n == 0.0 && n.is_sign_negative()) {
        let mut digits = [0u8; 24];
        let mut i = digits.len();
        let mut v = n.abs() as u64;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if n < 0.0 {
            i -= 1;
            digits[i] = b'-';
        }
        out.extend_from_slice(&digits[i..]);
        return;
    }
    let mut format = [0u8; 6];
    format[0] = b'%';
    format[1] = b'.';
    let mut at = 2;
    if p >= 10 {
        format[at] = b'0' + (p / 10) as u8;
        at += 1;
    }
    format[at] = b'0' + (p % 10) as u8;
    format[at + 1] = b'g';
    let format = CStr::from_bytes_until_nul(&format).unwrap_or(c"%.14g");
    clib::printf_g(out, format, n);
}

/// The two-character escapes; other control characters and DEL are written `\u00XX`.
fn short_escape(b: u8) -> Option<&'static [u8]> {
    Some(match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'/' => b"\\/",
        0x08 => b"\\b",
        b'\t' => b"\\t",
        b'\n' => b"\\n",
        0x0c => b"\\f",
        b'\r' => b"\\r",
        _ => return None,
    })
}

/// JSON's escapes plus lua-cjson's own: `/` and DEL are escaped too.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == b'/' || b == 0x7f
}

fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut rest = s;
    while let Some(at) = rest.iter().position(|&b| needs_escape(b)) {
        out.extend_from_slice(&rest[..at]);
        let b = rest[at];
        match short_escape(b) {
            Some(e) => out.extend_from_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

// ===== Decoding =====

lua_fn!(decode_fn => decode);

/// What a token is; the names are those of lua-cjson's error messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Kind {
    fn name(self) -> &'static CStr {
        match self {
            Kind::ObjBegin => c"T_OBJ_BEGIN",
            Kind::ObjEnd => c"T_OBJ_END",
            Kind::ArrBegin => c"T_ARR_BEGIN",
            Kind::ArrEnd => c"T_ARR_END",
            Kind::Str => c"T_STRING",
            Kind::Number => c"T_NUMBER",
            Kind::Boolean => c"T_BOOLEAN",
            Kind::Null => c"T_NULL",
            Kind::Colon => c"T_COLON",
            Kind::Comma => c"T_COMMA",
            Kind::End => c"T_END",
            Kind::Error => c"T_ERROR",
        }
    }
}

struct Token {
    kind: Kind,
    /// Where it starts (where the error is, for an error).
    index: usize,
    number: f64,
    boolean: bool,
    /// An error's description.
    error: &'static CStr,
    /// A string's text: this range of the input, or the scratch buffer when it had escapes.
    text: (usize, usize),
    escaped: bool,
}

impl Token {
    fn new(kind: Kind, index: usize) -> Token {
        Token {
            kind,
            index,
            number: 0.0,
            boolean: false,
            error: c"",
            text: (0, 0),
            escaped: false,
        }
    }

    fn error(index: usize, error: &'static CStr) -> Token {
        Token {
            error,
            ..Token::new(Kind::Error, index)
        }
    }
}

struct Parser<'a> {
    l: State,
    /// The input: a Lua string, so followed by a NUL in memory (`strtod` relies on it).
    data: &'a [u8],
    pos: usize,
    depth: i32,
    max_depth: i32,
    invalid_numbers: bool,
    tmp: &'a mut Vec<u8>,
}

/// cjson.decode(text)
unsafe fn decode(l: State) -> c_int {
    if ffi::lua_gettop(l) != 1 {
        clib::arg_error(l, 1, c"expected 1 argument");
    }
    let cfg = clib::upvalue_state::<Config>(l);
    let data = clib::check_bytes(l, 1);
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        clib::error(l, c"JSON parser does not support UTF-16 or UTF-32");
    }
    let mut p = Parser {
        l,
        data,
        pos: 0,
        depth: 0,
        max_depth: cfg.decode_max_depth,
        invalid_numbers: cfg.decode_invalid_numbers != 0,
        tmp: &mut cfg.tmp,
    };
    let token = p.next_token();
    p.value(&token);
    let token = p.next_token();
    if token.kind != Kind::End {
        p.expected(c"the end", &token);
    }
    1
}

impl Parser<'_> {
    /// The byte at `i`, or 0 past the end (the C string's terminator).
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    unsafe fn expected(&self, what: &CStr, token: &Token) -> ! {
        let found = if token.kind == Kind::Error {
            token.error
        } else {
            token.kind.name()
        };
        ffi::luaL_error(
            self.l,
            c"Expected %s but found %s at character %d".as_ptr(),
            what.as_ptr(),
            found.as_ptr(),
            (token.index + 1) as c_int,
        );
        unreachable!("luaL_error returned")
    }

    /// One level deeper, with `slots` free on the Lua stack.
    unsafe fn descend(&mut self, slots: c_int) {
        self.depth += 1;
        if self.depth <= self.max_depth && ffi::lua_checkstack(self.l, slots) != 0 {
            return;
        }
        ffi::luaL_error(
            self.l,
            c"Found too many nested data structures (%d) at character %d".as_ptr(),
            self.depth as c_int,
            self.pos as c_int,
        );
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let ch = self.at(start);
        let single = |kind| Token::new(kind, start);
        let kind = match ch {
            b'{' => Kind::ObjBegin,
            b'}' => Kind::ObjEnd,
            b'[' => Kind::ArrBegin,
            b']' => Kind::ArrEnd,
            b',' => Kind::Comma,
            b':' => Kind::Colon,
            0 => return single(Kind::End),
            b'"' => return self.string_token(),
            b'-' | b'0'..=b'9' => {
                if !self.invalid_numbers && self.is_invalid_number() {
                    return Token::error(start, c"invalid number");
                }
                return self.number_token();
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                let rest = &self.data[start..];
                let mut token = single(Kind::Boolean);
                if rest.starts_with(b"true") {
                    token.boolean = true;
                    self.pos += 4;
                } else if rest.starts_with(b"false") {
                    self.pos += 5;
                } else if rest.starts_with(b"null") {
                    token.kind = Kind::Null;
                    self.pos += 4;
                } else if self.invalid_numbers && self.is_invalid_number() {
                    return self.number_token();
                } else {
                    return Token::error(start, c"invalid token");
                }
                return token;
            }
            _ => return Token::error(start, c"invalid token"),
        };
        self.pos += 1;
        single(kind)
    }

    /// A number strict JSON refuses but `strtod` reads: a leading `+` or zero, hex, inf, nan.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let ch = self.at(p);
        if ch == b'0' {
            let ch2 = self.at(p + 1);
            return ch2 | 0x20 == b'x' || ch2.is_ascii_digit();
        }
        if ch <= b'9' {
            return false;
        }
        let word = [self.at(p), self.at(p + 1), self.at(p + 2)];
        word.eq_ignore_ascii_case(b"inf") || word.eq_ignore_ascii_case(b"nan")
    }

    fn number_token(&mut self) -> Token {
        let start = self.pos;
        let mut end: *mut libc::c_char = ptr::null_mut();
        // SAFETY: the input is a Lua string, NUL-terminated in memory, and `start` is within it.
        let (n, used) = unsafe {
            let p = self.data.as_ptr().add(start).cast::<libc::c_char>();
            let n = libc::strtod(p, &mut end);
            (n, end.offset_from(p).max(0) as usize)
        };
        if used == 0 {
            return Token::error(start, c"invalid number");
        }
        self.pos = start + used;
        Token {
            number: n,
            ..Token::new(Kind::Number, start)
        }
    }

    fn string_token(&mut self) -> Token {
        let start = self.pos;
        self.pos += 1;
        let from = self.pos;
        let stop = self.data[from..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b == 0)
            .map_or(self.data.len(), |i| from + i);
        match self.at(stop) {
            b'"' => {
                self.pos = stop + 1;
                return Token {
                    text: (from, stop),
                    ..Token::new(Kind::Str, start)
                };
            }
            0 => {
                self.pos = stop;
                return Token::error(stop, c"unexpected end of string");
            }
            _ => {}
        }
        // Escapes: the text is built in the scratch buffer.
        self.tmp.clear();
        self.tmp.extend_from_slice(&self.data[from..stop]);
        self.pos = stop;
        loop {
            let ch = self.at(self.pos);
            match ch {
                b'"' => break,
                0 => return Token::error(self.pos, c"unexpected end of string"),
                b'\\' => {
                    let out = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => 0x0c,
                        b'r' => b'\r',
                        b'u' => {
                            if !self.unicode_escape() {
                                return Token::error(self.pos, c"invalid unicode escape code");
                            }
                            continue;
                        }
                        _ => return Token::error(self.pos, c"invalid escape code"),
                    };
                    self.tmp.push(out);
                    self.pos += 2;
                }
                _ => {
                    self.tmp.push(ch);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Token {
            escaped: true,
            ..Token::new(Kind::Str, start)
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0;
        for i in 0..4 {
            v = v << 4 | (self.at(at + i) as char).to_digit(16)?;
        }
        Some(v)
    }

    /// `\uXXXX` (a UTF-16 unit, or a surrogate pair as two escapes) at `pos`, as UTF-8.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let b = |shift: u32| (((cp >> shift) & 0x3F) | 0x80) as u8;
        match cp {
            0..=0x7F => self.tmp.push(cp as u8),
            0x80..=0x7FF => self.tmp.extend_from_slice(&[(cp >> 6) as u8 | 0xC0, b(0)]),
            0x800..=0xFFFF => {
                self.tmp
                    .extend_from_slice(&[(cp >> 12) as u8 | 0xE0, b(6), b(0)]);
            }
            _ => self
                .tmp
                .extend_from_slice(&[(cp >> 18) as u8 | 0xF0, b(12), b(6), b(0)]),
        }
        self.pos += len;
        true
    }

    unsafe fn push_string(&self, token: &Token) {
        if token.escaped {
            clib::push_bytes(self.l, self.tmp);
        } else {
            clib::push_bytes(self.l, &self.data[token.text.0..token.text.1]);
        }
    }

    /// Pushes the value that starts with `token`.
    unsafe fn value(&mut self, token: &Token) {
        let l = self.l;
        match token.kind {
            Kind::Str => self.push_string(token),
            Kind::Number => ffi::lua_pushnumber(l, token.number),
            Kind::Boolean => ffi::lua_pushboolean(l, token.boolean as c_int),
            Kind::ObjBegin => self.object(),
            Kind::ArrBegin => self.array(),
            Kind::Null => ffi::lua_pushlightuserdata(l, ptr::null_mut()),
            _ => self.expected(c"value", token),
        }
    }

    unsafe fn object(&mut self) {
        let l = self.l;
        // The table, a key, a value.
        self.descend(3);
        ffi::lua_createtable(l, 0, 0);
        let mut token = self.next_token();
        if token.kind == Kind::ObjEnd {
            self.depth -= 1;
            return;
        }
        loop {
            if token.kind != Kind::Str {
                self.expected(c"object key string", &token);
            }
            self.push_string(&token);
            token = self.next_token();
            if token.kind != Kind::Colon {
                self.expected(c"colon", &token);
            }
            token = self.next_token();
            self.value(&token);
            ffi::lua_rawset(l, -3);
            token = self.next_token();
            if token.kind == Kind::ObjEnd {
                self.depth -= 1;
                return;
            }
            if token.kind != Kind::Comma {
                self.expected(c"comma or object end", &token);
            }
            token = self.next_token();
        }
    }

    unsafe fn array(&mut self) {
        let l = self.l;
        // The table, a value.
        self.descend(2);
        ffi::lua_createtable(l, 0, 0);
        let mut token = self.next_token();
        if token.kind == Kind::ArrEnd {
            self.depth -= 1;
            return;
        }
        let mut i: c_int = 1;
        loop {
            self.value(&token);
            ffi::lua_rawseti_(l, -2, i);
            i = i.wrapping_add(1);
            token = self.next_token();
            if token.kind == Kind::ArrEnd {
                self.depth -= 1;
                return;
            }
            if token.kind != Kind::Comma {
                self.expected(c"comma or array end", &token);
            }
            token = self.next_token();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_printf_g() {
        let f = |n: f64, p: i32| {
            let mut out = Vec::new();
            format_number(&mut out, n, p);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(f(123.0, 14), "123");
        assert_eq!(f(-0.0, 14), "-0");
        assert_eq!(f(1e14, 14), "1e+14");
        assert_eq!(f(99999999999999.0, 14), "99999999999999");
        assert_eq!(f(0.1, 14), "0.1");
        assert_eq!(f(1234.0, 3), "1.23e+03");
        assert_eq!(f(1.23456, 3), "1.23");
    }

    #[test]
    fn strings_escaped() {
        let mut out = Vec::new();
        append_string(&mut out, b"a\"b/\\\x01\x7f\n\xc3\xa9");
        assert_eq!(out, b"\"a\\\"b\\/\\\\\\u0001\\u007f\\n\xc3\xa9\"");
    }
}
