//! `bit`: LuaBitOp 1.0's bitwise operations, as Redis 7.0 bundles them. Numbers are Lua 5.1
//! doubles; an argument is reduced to 32 bits the way LuaBitOp does it (adding 2^52 + 2^51
//! and keeping the low word, so fractions round to nearest even and large values wrap), and
//! a result is the signed 32-bit value as a double.

use std::ffi::c_int;

use mlua::ffi;

use super::clib::{self, lua_fn, State};

lua_fn!(tobit_fn => tobit);
lua_fn!(bnot_fn => bnot);
lua_fn!(band_fn => band);
lua_fn!(bor_fn => bor);
lua_fn!(bxor_fn => bxor);
lua_fn!(lshift_fn => lshift);
lua_fn!(rshift_fn => rshift);
lua_fn!(arshift_fn => arshift);
lua_fn!(rol_fn => rol);
lua_fn!(ror_fn => ror);
lua_fn!(bswap_fn => bswap);
lua_fn!(tohex_fn => tohex);
lua_fn!(pub open => new);

/// Pushes the `bit` table.
unsafe fn new(l: State) -> c_int {
    ffi::lua_createtable(l, 0, 12);
    clib::set_funcs(
        l,
        &[
            (c"tobit", tobit_fn),
            (c"bnot", bnot_fn),
            (c"band", band_fn),
            (c"bor", bor_fn),
            (c"bxor", bxor_fn),
            (c"lshift", lshift_fn),
            (c"rshift", rshift_fn),
            (c"arshift", arshift_fn),
            (c"rol", rol_fn),
            (c"ror", ror_fn),
            (c"bswap", bswap_fn),
            (c"tohex", tohex_fn),
        ],
        0,
    );
    1
}

/// Argument `idx` as 32 bits (a numeric string counts as its number).
unsafe fn arg(l: State, idx: c_int) -> u32 {
    let n = ffi::lua_tonumber(l, idx);
    let b = to_bits(n);
    if b == 0 && ffi::lua_isnumber(l, idx) == 0 {
        ffi::luaL_typerror(l, idx, c"number".as_ptr());
    }
    b
}

/// LuaBitOp's conversion: the low 32 bits of `n + 2^52 + 2^51`.
fn to_bits(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

unsafe fn ret(l: State, b: u32) -> c_int {
    ffi::lua_pushnumber(l, b as i32 as f64);
    1
}

unsafe fn tobit(l: State) -> c_int {
    ret(l, arg(l, 1))
}

unsafe fn bnot(l: State) -> c_int {
    ret(l, !arg(l, 1))
}

/// Folds the arguments from the last to the second into the first, as LuaBitOp reads them.
unsafe fn fold(l: State, op: fn(u32, u32) -> u32) -> c_int {
    let mut b = arg(l, 1);
    let mut i = ffi::lua_gettop(l);
    while i > 1 {
        b = op(b, arg(l, i));
        i -= 1;
    }
    ret(l, b)
}

unsafe fn band(l: State) -> c_int {
    fold(l, |a, b| a & b)
}

unsafe fn bor(l: State) -> c_int {
    fold(l, |a, b| a | b)
}

unsafe fn bxor(l: State) -> c_int {
    fold(l, |a, b| a ^ b)
}

/// The value and a shift count taken modulo 32.
unsafe fn shift_args(l: State) -> (u32, u32) {
    let b = arg(l, 1);
    (b, arg(l, 2) & 31)
}

unsafe fn lshift(l: State) -> c_int {
    let (b, n) = shift_args(l);
    ret(l, b << n)
}

unsafe fn rshift(l: State) -> c_int {
    let (b, n) = shift_args(l);
    ret(l, b >> n)
}

unsafe fn arshift(l: State) -> c_int {
    let (b, n) = shift_args(l);
    ret(l, ((b as i32) >> n) as u32)
}

unsafe fn rol(l: State) -> c_int {
    let (b, n) = shift_args(l);
    ret(l, b.rotate_left(n))
}

unsafe fn ror(l: State) -> c_int {
    let (b, n) = shift_args(l);
    ret(l, b.rotate_right(n))
}

unsafe fn bswap(l: State) -> c_int {
    ret(l, arg(l, 1).swap_bytes())
}

/// bit.tohex(x[, n]): `n` hex digits (8 by default), upper case when `n` is negative.
unsafe fn tohex(l: State) -> c_int {
    let mut b = arg(l, 1);
    let mut n = if ffi::lua_isnone(l, 2) != 0 {
        8
    } else {
        arg(l, 2) as i32
    };
    let digits: &[u8; 16] = if n < 0 {
        // The most negative count (undefined in C) is taken as -8.
        n = n.checked_neg().unwrap_or(8);
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.min(8) as usize;
    let mut buf = [0u8; 8];
    for slot in buf[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    clib::push_bytes(l, &buf[..n]);
    1
}

#[cfg(test)]
mod tests {
    use super::to_bits;

    #[test]
    fn conversion_rounds_and_wraps() {
        assert_eq!(to_bits(1.0), 1);
        assert_eq!(to_bits(-1.0), u32::MAX);
        assert_eq!(to_bits(2.5), 2);
        assert_eq!(to_bits(3.5), 4);
        assert_eq!(to_bits(4294967296.0 + 5.0), 5);
        assert_eq!(to_bits(2147483648.0) as i32, i32::MIN);
    }
}
