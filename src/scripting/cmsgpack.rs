//! `cmsgpack`: MessagePack for scripts, byte for byte as the lua-cmsgpack 0.4.0 that Redis
//! 7.0 bundles.
//!
//! Its choices, which scripts' data depends on: a number that is a 64-bit integer gets the
//! smallest integer encoding, any other number a 32-bit float when that is exact, else a
//! double; strings always use the str family (never bin); a table is an array when its keys
//! are exactly 1..n, else a map; tables nested 16 deep are written as nil (so circular
//! references end); functions, userdata and the like are nil. Unpacking accepts that family
//! (no bin or ext), reads values into plain Lua numbers (a uint64 above 2^63 wraps negative,
//! as Redis's does) and allocates nothing from a header's count: tables grow as elements
//! actually arrive, and the Lua stack bounds nesting and the number of results.

use std::ffi::c_int;

use mlua::ffi;

use super::clib::{self, lua_fn, State};

/// Tables nested this deep are packed as nil.
const MAX_NESTING: u32 = 16;

lua_fn!(pack_fn => pack);
lua_fn!(unpack_fn => unpack);
lua_fn!(unpack_one_fn => unpack_one);
lua_fn!(unpack_limit_fn => unpack_limit);
lua_fn!(pub open => new);

/// Pushes the `cmsgpack` table.
unsafe fn new(l: State) -> c_int {
    ffi::lua_createtable(l, 0, 0);
    // pack's reusable output buffer.
    clib::new_state(l, Vec::<u8>::new());
    clib::set_funcs(l, &[(c"pack", pack_fn)], 1);
    clib::set_funcs(
        l,
        &[
            (c"unpack", unpack_fn),
            (c"unpack_one", unpack_one_fn),
            (c"unpack_limit", unpack_limit_fn),
        ],
        0,
    );
    clib::set_string(l, c"_NAME", c"cmsgpack");
    clib::set_string(l, c"_VERSION", c"lua-cmsgpack 0.4.0");
    clib::set_string(
        l,
        c"_COPYRIGHT",
        c"Copyright (C) 2012, Salvatore Sanfilippo",
    );
    clib::set_string(l, c"_DESCRIPTION", c"MessagePack C implementation for Lua");
    1
}

// ===== Packing =====

/// cmsgpack.pack(v1, ...): the concatenated encodings.
unsafe fn pack(l: State) -> c_int {
    let nargs = ffi::lua_gettop(l);
    if nargs == 0 {
        clib::arg_error(l, 0, c"MessagePack pack needs input.");
    }
    if ffi::lua_checkstack(l, nargs) == 0 {
        clib::arg_error(l, 0, c"Too many arguments for MessagePack pack.");
    }
    let buf = clib::upvalue_state::<Vec<u8>>(l);
    buf.clear();
    for i in 1..=nargs {
        clib::check_stack(l, 1, c"in function mp_check");
        ffi::lua_pushvalue(l, i);
        encode_value(l, buf, 0);
        // The C library leaves one string per argument here before joining them; a
        // placeholder keeps the stack as high, so its limits strike at the same point.
        ffi::lua_pushnil(l);
    }
    // Where the C library joins its strings into one.
    ffi::lua_settop(l, nargs);
    clib::push_bytes(l, buf);
    if buf.capacity() > 1 << 20 {
        *buf = Vec::new();
    }
    1
}

/// Encodes the value at the top of the stack and pops it.
unsafe fn encode_value(l: State, buf: &mut Vec<u8>, level: u32) {
    match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => encode_bytes(buf, clib::to_bytes(l, -1).unwrap_or(b"")),
        ffi::LUA_TBOOLEAN => buf.push(if ffi::lua_toboolean(l, -1) != 0 {
            0xc3
        } else {
            0xc2
        }),
        ffi::LUA_TNUMBER => encode_number(buf, ffi::lua_tonumber(l, -1)),
        ffi::LUA_TTABLE if level != MAX_NESTING => {
            if is_array(l) {
                encode_array(l, buf, level);
            } else {
                encode_map(l, buf, level);
            }
        }
        _ => buf.push(0xc0),
    }
    ffi::lua_settop(l, -2);
}

fn encode_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

/// An integer when the number is one that fits 64 bits (-0 included), else a float when
/// exact, else a double.
fn encode_number(buf: &mut Vec<u8>, n: f64) {
    let i = clib::c_i64(n);
    if n.is_finite() && i as f64 == n {
        encode_int(buf, i);
        return;
    }
    let f = n as f32;
    if f as f64 == n {
        buf.push(0xca);
        buf.extend_from_slice(&f.to_bits().to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&n.to_bits().to_be_bytes());
    }
}

fn encode_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            buf.push(n as u8);
        } else if n <= 0xff {
            buf.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_header(buf: &mut Vec<u8>, n: usize, fix: u8, h16: u8, h32: u8) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 0xffff {
        buf.push(h16);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(h32);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Are the keys of the table at the top of the stack exactly 1..n (n >= 0)?
unsafe fn is_array(l: State) -> bool {
    let top = ffi::lua_gettop(l);
    let (mut count, mut max) = (0i32, 0i32);
    clib::check_stack(l, 2, c"in function table_is_an_array");
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        ffi::lua_settop(l, -2);
        // A positive number that is a C int.
        let n = if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
            ffi::lua_tonumber(l, -1)
        } else {
            0.0
        };
        if n <= 0.0 || n.is_infinite() || clib::c_i32(n) as f64 != n {
            ffi::lua_settop(l, top);
            return false;
        }
        max = max.max(n as i32);
        count += 1;
    }
    ffi::lua_settop(l, top);
    max == count
}

unsafe fn encode_array(l: State, buf: &mut Vec<u8>, level: u32) {
    let len = ffi::lua_objlen(l, -1);
    encode_header(buf, len, 0x90, 0xdc, 0xdd);
    clib::check_stack(l, 1, c"in function mp_encode_lua_table_as_array");
    for j in 1..=len {
        // Keys 1..len are all present, so a raw read is what lua_gettable gives.
        ffi::lua_rawgeti_(l, -1, j as c_int);
        encode_value(l, buf, level + 1);
    }
}

unsafe fn encode_map(l: State, buf: &mut Vec<u8>, level: u32) {
    clib::check_stack(l, 3, c"in function mp_encode_lua_table_as_map");
    let mut len = 0usize;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        ffi::lua_settop(l, -2);
        len += 1;
    }
    encode_header(buf, len, 0x80, 0xde, 0xdf);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        ffi::lua_pushvalue(l, -2);
        encode_value(l, buf, level + 1);
        encode_value(l, buf, level + 1);
    }
}

// ===== Unpacking =====

/// Why decoding stopped.
enum Stop {
    /// The input ends inside a value.
    Eof,
    /// A type byte this library does not know.
    BadFormat,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes, consumed.
    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        if self.left() < n {
            return Err(Stop::Eof);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// A big-endian length of `width` bytes (1, 2 or 4), as str, array and map headers hold.
    fn len(&mut self, width: usize) -> Result<usize, Stop> {
        Ok(self
            .take(width)?
            .iter()
            .fold(0usize, |n, &b| n << 8 | b as usize))
    }
}

/// cmsgpack.unpack(s): every value in `s`.
unsafe fn unpack(l: State) -> c_int {
    unpack_full(l, 0, 0)
}

/// cmsgpack.unpack_one(s[, offset]): the next offset (-1 at the end) and one value.
unsafe fn unpack_one(l: State) -> c_int {
    let offset = ffi::luaL_optinteger(l, 2, 0);
    ffi::lua_settop(l, 1);
    unpack_full(l, 1, offset)
}

/// cmsgpack.unpack_limit(s, limit[, offset]): the next offset (-1 at the end) and up to
/// `limit` values.
unsafe fn unpack_limit(l: State) -> c_int {
    let limit = ffi::luaL_checkinteger(l, 2);
    let offset = ffi::luaL_optinteger(l, 3, 0);
    ffi::lua_settop(l, 1);
    unpack_full(l, limit, offset)
}

unsafe fn unpack_full(l: State, limit: i64, offset: i64) -> c_int {
    let data = clib::check_bytes(l, 1);
    let len = data.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // Redis's message shows the input's length where the limit belongs.
        ffi::luaL_error(
            l,
            c"Invalid request to unpack with offset of %d and limit of %d.".as_ptr(),
            offset as c_int,
            len as c_int,
        );
    } else if offset as u64 > len as u64 {
        ffi::luaL_error(
            l,
            c"Start offset %d greater than input length %d.".as_ptr(),
            offset as c_int,
            len as c_int,
        );
    }
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut c = Cursor {
        data,
        pos: offset as usize,
    };
    let mut count: c_int = 0;
    while c.left() > 0 && (count as i64) < limit {
        match decode_value(l, &mut c) {
            Ok(()) => {}
            Err(Stop::Eof) => clib::error(l, c"Missing bytes in input."),
            Err(Stop::BadFormat) => clib::error(l, c"Bad data format in input."),
        }
        count += 1;
    }
    if decode_all {
        return count;
    }
    clib::check_stack(l, 1, c"in function mp_unpack_full");
    let next = if c.left() == 0 { -1 } else { c.pos as i64 };
    ffi::lua_pushinteger(l, next);
    ffi::lua_insert(l, 2);
    count + 1
}

/// Pushes the next value.
unsafe fn decode_value(l: State, c: &mut Cursor) -> Result<(), Stop> {
    if c.left() == 0 {
        return Err(Stop::Eof);
    }
    // One more slot per value: the results of unpack all live on the stack.
    clib::check_stack(
        l,
        1,
        c"too many return values at once; use unpack_one or unpack_limit instead.",
    );
    let [tag] = c.be::<1>()?;
    let int = |n: i64| ffi::lua_pushinteger(l, n);
    match tag {
        0x00..=0x7f => int(tag as i64),
        0xe0..=0xff => int(tag as i8 as i64),
        0xcc => int(c.be::<1>()?[0] as i64),
        0xd0 => int(c.be::<1>()?[0] as i8 as i64),
        0xcd => int(u16::from_be_bytes(c.be()?) as i64),
        0xd1 => int(i16::from_be_bytes(c.be()?) as i64),
        0xce => int(u32::from_be_bytes(c.be()?) as i64),
        0xd2 => int(i32::from_be_bytes(c.be()?) as i64),
        // Pushed as a Lua integer (64-bit signed) first: above 2^63 it wraps.
        0xcf => int(u64::from_be_bytes(c.be()?) as i64),
        0xd3 => ffi::lua_pushnumber(l, i64::from_be_bytes(c.be()?) as f64),
        0xc0 => ffi::lua_pushnil(l),
        0xc3 => ffi::lua_pushboolean(l, 1),
        0xc2 => ffi::lua_pushboolean(l, 0),
        0xca => ffi::lua_pushnumber(l, f32::from_be_bytes(c.be()?) as f64),
        0xcb => ffi::lua_pushnumber(l, f64::from_be_bytes(c.be()?)),
        0xa0..=0xbf => push_str(l, c, (tag & 0x1f) as usize)?,
        // str 8/16/32, array 16/32, map 16/32: a 1-, 2- or 4-byte length first.
        0xd9..=0xdb => {
            let n = c.len(1 << (tag - 0xd9))?;
            push_str(l, c, n)?;
        }
        0x90..=0x9f => decode_array(l, c, (tag & 0xf) as usize)?,
        0xdc | 0xdd => {
            let n = c.len(2 << (tag - 0xdc))?;
            decode_array(l, c, n)?;
        }
        0x80..=0x8f => decode_map(l, c, (tag & 0xf) as usize)?,
        0xde | 0xdf => {
            let n = c.len(2 << (tag - 0xde))?;
            decode_map(l, c, n)?;
        }
        _ => return Err(Stop::BadFormat),
    }
    Ok(())
}

unsafe fn push_str(l: State, c: &mut Cursor, n: usize) -> Result<(), Stop> {
    let s = c.take(n)?;
    clib::push_bytes(l, s);
    Ok(())
}

/// A table of `n` elements keyed 1..n. The table starts empty and grows as elements arrive
/// (a header's count is not trusted), as the C library's does, so iteration order matches.
unsafe fn decode_array(l: State, c: &mut Cursor, n: usize) -> Result<(), Stop> {
    ffi::lua_createtable(l, 0, 0);
    clib::check_stack(l, 1, c"in function mp_decode_to_lua_array");
    for i in 1..=n {
        ffi::lua_pushnumber(l, i as f64);
        decode_value(l, c)?;
        ffi::lua_rawset(l, -3);
    }
    Ok(())
}

unsafe fn decode_map(l: State, c: &mut Cursor, n: usize) -> Result<(), Stop> {
    ffi::lua_createtable(l, 0, 0);
    for _ in 0..n {
        decode_value(l, c)?;
        decode_value(l, c)?;
        ffi::lua_rawset(l, -3);
    }
    Ok(())
}
