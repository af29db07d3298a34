//! `struct`: binary packing as Roberto Ierusalimschy's lua-struct, which Redis 7.0 bundles.
//!
//! Formats: `>` big endian, `<` little endian (the default, x86's native), `!n` maximum
//! alignment (8 without n), `b B h H l L T i[n] I[n]` integers (`n` up to 32 bytes), `f d`
//! floats, `x` a zero byte, `c[n]` n bytes (`c0`: the whole string when packing, the
//! previous number's length when unpacking), `s` a NUL-terminated string, spaces ignored. A
//! NUL ends the format, as it would in C. Every size is checked against the data before it
//! is read, and output grows only with what the caller gave, so hostile formats cost nothing.

use std::ffi::c_int;

use mlua::ffi;

use super::clib::{self, lua_fn, State};

/// The widest `i`/`I`.
const MAX_INT_SIZE: i32 = 32;
/// `!` without a number: the alignment of a double in a C struct.
const MAX_ALIGN: i32 = 8;

lua_fn!(pack_fn => pack);
lua_fn!(unpack_fn => unpack);
lua_fn!(size_fn => size);
lua_fn!(pub open => new);

/// Pushes the `struct` table.
unsafe fn new(l: State) -> c_int {
    ffi::lua_createtable(l, 0, 3);
    clib::set_funcs(
        l,
        &[
            (c"pack", pack_fn),
            (c"unpack", unpack_fn),
            (c"size", size_fn),
        ],
        0,
    );
    1
}

/// Lua 5.1's `luaL_Buffer` (`LUAL_BUFFERSIZE` is glibc's `BUFSIZ`). pack builds its result
/// in one, as lua-struct does, because the buffer's spills onto the Lua stack are visible: an
/// argument read past the last one finds them (or the nil mark below them) rather than
/// nothing, and the error says so.
#[repr(C)]
struct LuaBuffer {
    p: *mut std::ffi::c_char,
    lvl: c_int,
    l: State,
    buffer: [std::ffi::c_char; 8192],
}

extern "C-unwind" {
    fn luaL_buffinit(l: State, b: *mut LuaBuffer);
    fn luaL_addlstring(b: *mut LuaBuffer, s: *const std::ffi::c_char, len: usize);
    fn luaL_pushresult(b: *mut LuaBuffer);
}

unsafe fn add(b: *mut LuaBuffer, bytes: &[u8]) {
    luaL_addlstring(b, bytes.as_ptr().cast(), bytes.len());
}

/// Byte order and maximum alignment, changed by `>`, `<` and `!` as the format goes.
struct Header {
    little: bool,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header {
            little: true,
            align: 1,
        }
    }
}

/// The format argument, up to its first NUL.
unsafe fn format_arg<'a>(l: State) -> &'a [u8] {
    let fmt = clib::check_bytes(l, 1);
    let end = fmt.iter().position(|&b| b == 0).unwrap_or(fmt.len());
    &fmt[..end]
}

/// A number in the format at `*i`, or `default`.
unsafe fn number(l: State, fmt: &[u8], i: &mut usize, default: i32) -> i32 {
    let Some(d) = fmt.get(*i).filter(|b| b.is_ascii_digit()) else {
        return default;
    };
    let mut a: i32 = 0;
    let mut d = *d;
    loop {
        let digit = (d - b'0') as i32;
        if a > i32::MAX / 10 || a * 10 > i32::MAX - digit {
            clib::error(l, c"integral size overflow");
        }
        a = a * 10 + digit;
        *i += 1;
        match fmt.get(*i) {
            Some(b) if b.is_ascii_digit() => d = *b,
            _ => return a,
        }
    }
}

/// The size of option `opt` (reading its number, if it takes one); 0 for the others.
unsafe fn option_size(l: State, opt: u8, fmt: &[u8], i: &mut usize) -> usize {
    match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => number(l, fmt, i, 1) as usize,
        b'i' | b'I' => {
            let size = number(l, fmt, i, 4);
            if size > MAX_INT_SIZE {
                ffi::luaL_error(
                    l,
                    c"integral size %d is larger than limit of %d".as_ptr(),
                    size as c_int,
                    MAX_INT_SIZE as c_int,
                );
            }
            size as usize
        }
        _ => 0,
    }
}

/// Padding before an item of `size` at offset `len`.
fn padding(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

/// The options that are not items: byte order, alignment, spaces; anything else is refused.
unsafe fn control(l: State, opt: u8, fmt: &[u8], i: &mut usize, h: &mut Header) {
    match opt {
        b' ' => {}
        b'>' => h.little = false,
        b'<' => h.little = true,
        b'!' => {
            let a = number(l, fmt, i, MAX_ALIGN);
            if a <= 0 || a & (a - 1) != 0 {
                ffi::luaL_error(l, c"alignment %d is not a power of 2".as_ptr(), a as c_int);
            }
            h.align = a as usize;
        }
        _ => {
            let msg = ffi::lua_pushfstring(l, c"invalid format option '%c'".as_ptr(), opt as c_int);
            ffi::luaL_argerror(l, 1, msg);
        }
    }
}

/// struct.pack(fmt, v1, ...)
unsafe fn pack(l: State) -> c_int {
    let fmt = format_arg(l);
    let mut h = Header::new();
    let mut arg: c_int = 2;
    let mut total: usize = 0;
    // The mark between the arguments and the buffer's spills.
    ffi::lua_pushnil(l);
    let mut buf = std::mem::MaybeUninit::<LuaBuffer>::uninit();
    let b = buf.as_mut_ptr();
    luaL_buffinit(l, b);
    let mut i = 0;
    while let Some(&opt) = fmt.get(i) {
        i += 1;
        let mut size = option_size(l, opt, fmt, &mut i);
        let pad = padding(total, &h, opt, size);
        total = total.wrapping_add(pad);
        add(b, &[0u8; 32][..pad.min(32)]);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                put_integer(l, b, arg, h.little, size);
                arg += 1;
            }
            b'x' => add(b, &[0]),
            b'f' => {
                let f = ffi::luaL_checknumber(l, arg) as f32;
                arg += 1;
                add(
                    b,
                    &if h.little {
                        f.to_le_bytes()
                    } else {
                        f.to_be_bytes()
                    },
                );
            }
            b'd' => {
                let d = ffi::luaL_checknumber(l, arg);
                arg += 1;
                add(
                    b,
                    &if h.little {
                        d.to_le_bytes()
                    } else {
                        d.to_be_bytes()
                    },
                );
            }
            b'c' | b's' => {
                let s = clib::check_bytes(l, arg);
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // lua-struct names the argument after the string.
                    clib::arg_error(l, arg, c"string too short");
                }
                add(b, &s[..size]);
                if opt == b's' {
                    add(b, &[0]);
                    size += 1;
                }
            }
            _ => control(l, opt, fmt, &mut i, &mut h),
        }
        total = total.wrapping_add(size);
    }
    luaL_pushresult(b);
    1
}

/// An integer of `size` bytes: a negative number as its two's complement, bytes beyond the
/// eighth zero.
unsafe fn put_integer(l: State, b: *mut LuaBuffer, arg: c_int, little: bool, size: usize) {
    let n = ffi::luaL_checknumber(l, arg);
    let value = if n < 0.0 {
        clib::c_i64(n) as u64
    } else {
        clib::c_u64(n)
    };
    let mut bytes = [0u8; MAX_INT_SIZE as usize];
    let size = size.min(bytes.len());
    for (k, byte) in bytes[..size].iter_mut().enumerate() {
        *byte = value.checked_shr(8 * k as u32).unwrap_or(0) as u8;
    }
    if !little {
        bytes[..size].reverse();
    }
    add(b, &bytes[..size]);
}

fn get_integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let mut v: u64 = 0;
    let mut push = |b: u8| v = (v << 8) | b as u64;
    if little {
        bytes.iter().rev().for_each(|&b| push(b));
    } else {
        bytes.iter().for_each(|&b| push(b));
    }
    if !signed {
        return v as f64;
    }
    // The sign bit of the item's width (wider than 64 bits: the shift wraps, as on x86).
    let shift = ((bytes.len() as i64 * 8 - 1) & 63) as u32;
    let mask = u64::MAX << shift;
    if v & mask != 0 {
        v |= mask;
    }
    v as i64 as f64
}

/// struct.unpack(fmt, data[, pos]): the values, then the position after them.
unsafe fn unpack(l: State) -> c_int {
    let fmt = format_arg(l);
    let data = clib::check_bytes(l, 2);
    let ld = data.len();
    // An offset is a size_t in C: a negative one wraps around (and is then too far).
    let mut pos = ffi::luaL_optinteger(l, 3, 1) as u64 as usize;
    if pos == 0 {
        clib::arg_error(l, 3, c"offset must be 1 or greater");
    }
    pos -= 1;
    let mut n: c_int = 0;
    let mut h = Header::new();
    let fits = |pos: usize, size: usize| size <= ld && pos <= ld - size;
    let mut i = 0;
    while let Some(&opt) = fmt.get(i) {
        i += 1;
        let mut size = option_size(l, opt, fmt, &mut i);
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if !fits(pos, size) {
            clib::arg_error(l, 2, c"data string too short");
        }
        // The item and the final position.
        clib::check_stack(l, 2, c"too many results");
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let v = get_integer(&data[pos..pos + size], h.little, opt.is_ascii_lowercase());
                ffi::lua_pushnumber(l, v);
                n += 1;
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                ffi::lua_pushnumber(l, f as f64);
                n += 1;
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let d = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                ffi::lua_pushnumber(l, d);
                n += 1;
            }
            b'c' => {
                if size == 0 {
                    if n == 0 || ffi::lua_isnumber(l, -1) == 0 {
                        clib::error(l, c"format 'c0' needs a previous size");
                    }
                    size = clib::c_u64(ffi::lua_tonumber(l, -1)) as usize;
                    ffi::lua_settop(l, -2);
                    n -= 1;
                    if !fits(pos, size) {
                        clib::arg_error(l, 2, c"data string too short");
                    }
                }
                clib::push_bytes(l, &data[pos..pos + size]);
                n += 1;
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    clib::error(l, c"unfinished string in data");
                };
                size = end + 1;
                clib::push_bytes(l, &data[pos..pos + end]);
                n += 1;
            }
            _ => control(l, opt, fmt, &mut i, &mut h),
        }
        pos = pos.wrapping_add(size);
    }
    ffi::lua_pushinteger(l, pos.wrapping_add(1) as i64);
    n + 1
}

/// struct.size(fmt): the packed size of a format without variable-size items.
unsafe fn size(l: State) -> c_int {
    let fmt = format_arg(l);
    let mut h = Header::new();
    let mut pos: usize = 0;
    let mut i = 0;
    while let Some(&opt) = fmt.get(i) {
        i += 1;
        let size = option_size(l, opt, fmt, &mut i);
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if opt == b's' {
            clib::arg_error(l, 1, c"option 's' has no fixed size");
        } else if opt == b'c' && size == 0 {
            clib::arg_error(l, 1, c"option 'c0' has no fixed size");
        }
        // As in lua-struct, an unknown letter or digit is silently of size 0 here.
        if !opt.is_ascii_alphanumeric() {
            control(l, opt, fmt, &mut i, &mut h);
        }
        pos = pos.wrapping_add(size);
    }
    ffi::lua_pushinteger(l, pos as i64);
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_back() {
        assert_eq!(get_integer(&[0xff, 0xff], true, true), -1.0);
        assert_eq!(get_integer(&[0xff, 0xff], true, false), 65535.0);
        assert_eq!(get_integer(&[0x01, 0x00], false, false), 256.0);
        assert_eq!(get_integer(&[], true, true), 0.0);
    }

    #[test]
    fn padding_follows_alignment() {
        let h = Header {
            little: true,
            align: 8,
        };
        assert_eq!(padding(1, &h, b'i', 4), 3);
        assert_eq!(padding(1, &h, b'c', 4), 0);
        assert_eq!(padding(3, &h, b'd', 8), 5);
    }
}
