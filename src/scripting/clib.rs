//! What the bundled libraries (cjson, cmsgpack, bit, struct) share: they are Lua C functions
//! written in Rust against the raw Lua 5.1 API, as Redis's are in C, so that they use the Lua
//! stack the same way (and so run out of it at the same depth), raise errors through Lua's own
//! `luaL_*` checks (same texts, same `user_script:N:` prefix, the function's name in "bad
//! argument" messages) and cost no mlua conversion per value.
//!
//! Errors are raised with `longjmp` through the Rust frames of these functions. That is sound
//! only over frames that own nothing with a destructor, so the rule in every library file is:
//! no `Vec`, `String` or `Box` lives on the Rust stack of a library function; reusable
//! buffers live in a userdata owned by Lua (see [`new_state`]).

use std::ffi::{c_int, CStr};

use mlua::ffi::{self, lua_State};

pub type State = *mut lua_State;
pub type CFunction = unsafe extern "C-unwind" fn(State) -> c_int;

/// Defines a Lua C function running `body`; a Rust panic (a bug) becomes a Lua error instead
/// of unwinding through Lua's C frames.
macro_rules! lua_fn {
    ($vis:vis $name:ident => $body:path) => {
        $vis unsafe extern "C-unwind" fn $name(l: $crate::scripting::clib::State) -> std::ffi::c_int {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { $body(l) })) {
                Ok(n) => n,
                Err(payload) => {
                    drop(payload);
                    unsafe { $crate::scripting::clib::error(l, c"internal error in a Lua library") }
                }
            }
        }
    };
}
pub(crate) use lua_fn;

/// Raises `msg` as `luaL_error` does (prefixed with the calling script's position).
pub unsafe fn error(l: State, msg: &CStr) -> ! {
    ffi::luaL_error(l, c"%s".as_ptr(), msg.as_ptr());
    unreachable!("luaL_error returned")
}

/// Raises "bad argument #narg to 'f' (msg)" (`luaL_argerror`).
pub unsafe fn arg_error(l: State, narg: c_int, msg: &CStr) -> ! {
    ffi::luaL_argerror(l, narg, msg.as_ptr());
    unreachable!("luaL_argerror returned")
}

/// Lua 5.1's `luaL_checkstack` (mlua's own version reserves `LUA_MINSTACK` more).
pub unsafe fn check_stack(l: State, space: c_int, what: &CStr) {
    ffi::luaL_checkstack_(l, space, what.as_ptr());
}

/// The bytes of the string at `idx` (`luaL_checklstring`: a number is converted in place).
/// Lua keeps a NUL after them, which the C libraries rely on as a terminator.
pub unsafe fn check_bytes<'a>(l: State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::luaL_checklstring(l, idx, &mut len);
    std::slice::from_raw_parts(p.cast::<u8>(), len)
}

/// The bytes of the string (or number) at `idx`, if it is one.
pub unsafe fn to_bytes<'a>(l: State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        None
    } else {
        Some(std::slice::from_raw_parts(p.cast::<u8>(), len))
    }
}

pub unsafe fn push_bytes(l: State, bytes: &[u8]) {
    ffi::lua_pushlstring_(l, bytes.as_ptr().cast(), bytes.len());
}

/// Sets `t[name] = f` for each function of `funcs` on the table just below the `nup` values
/// at the top of the stack, each function a closure over those values, which are then popped
/// (Lua 5.2's `luaL_setfuncs`).
pub unsafe fn set_funcs(l: State, funcs: &[(&CStr, CFunction)], nup: c_int) {
    for (name, f) in funcs {
        for _ in 0..nup {
            ffi::lua_pushvalue(l, -nup);
        }
        ffi::lua_pushcclosure(l, *f, nup);
        ffi::lua_setfield(l, -(nup + 2), name.as_ptr());
    }
    ffi::lua_settop(l, -(nup + 1));
}

pub unsafe fn set_string(l: State, name: &CStr, value: &CStr) {
    ffi::lua_pushstring_(l, value.as_ptr());
    ffi::lua_setfield(l, -2, name.as_ptr());
}

/// Pushes a full userdata owning `value`, dropped when Lua collects it: the home of a
/// library's configuration and reusable buffers.
pub unsafe fn new_state<T>(l: State, value: T) -> *mut T {
    // Lua 5.1 aligns userdata for a double, a pointer or a long.
    const { assert!(std::mem::align_of::<T>() <= 8) };
    let p = ffi::lua_newuserdata(l, std::mem::size_of::<T>()).cast::<T>();
    p.write(value);
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_pushcclosure(l, drop_state::<T>, 0);
    ffi::lua_setfield(l, -2, c"__gc".as_ptr());
    ffi::lua_setmetatable(l, -2);
    p
}

unsafe extern "C-unwind" fn drop_state<T>(l: State) -> c_int {
    let p = ffi::lua_touserdata(l, 1).cast::<T>();
    if !p.is_null() {
        p.drop_in_place();
    }
    0
}

/// The state a function was given as its first upvalue by [`new_state`] and [`set_funcs`].
pub unsafe fn upvalue_state<'a, T>(l: State) -> &'a mut T {
    let p = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)).cast::<T>();
    assert!(!p.is_null(), "library state upvalue");
    &mut *p
}

/// `(int64_t)d` as x86-64 computes it: truncation, and `INT64_MIN` for NaN or out of range
/// (the C libraries' casts are undefined there; this is what Redis's build does).
pub fn c_i64(d: f64) -> i64 {
    if d.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// `(int)d` as x86-64 computes it: truncation, and `INT_MIN` for NaN or out of range.
pub fn c_i32(d: f64) -> i32 {
    if d.is_nan() || d <= -2_147_483_649.0 || d >= 2_147_483_648.0 {
        i32::MIN
    } else {
        d as i32
    }
}

/// `(uint64_t)d` as gcc compiles it for x86-64: values from 2^63 go through a subtraction
/// and a flipped top bit, everything else (NaN included) through the signed conversion.
pub fn c_u64(d: f64) -> u64 {
    const TWO63: f64 = 9.223_372_036_854_776e18;
    if d >= TWO63 {
        (c_i64(d - TWO63) as u64) ^ (1 << 63)
    } else {
        c_i64(d) as u64
    }
}

/// A `printf`-style number into `out` (cjson's `%.Ng`).
pub fn printf_g(out: &mut Vec<u8>, format: &CStr, n: f64) {
    let mut buf = [0u8; 64];
    // SAFETY: snprintf writes at most buf.len() bytes, NUL included.
    let len = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), format.as_ptr(), n) };
    let len = (len.max(0) as usize).min(buf.len() - 1);
    out.extend_from_slice(&buf[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_casts_follow_x86() {
        assert_eq!(c_i64(f64::NAN), i64::MIN);
        assert_eq!(c_i64(9.3e18), i64::MIN);
        assert_eq!(c_i64(-9.223_372_036_854_776e18), i64::MIN);
        assert_eq!(c_i64(-3.7), -3);
        assert_eq!(c_i32(3e9), i32::MIN);
        assert_eq!(c_i32(-2_147_483_648.5), -2_147_483_648);
        assert_eq!(c_u64(-1.0), u64::MAX);
        assert_eq!(c_u64(1.8446744073709552e19), 0);
        assert_eq!(c_u64(9.3e18), 9_300_000_000_000_000_000);
    }
}
